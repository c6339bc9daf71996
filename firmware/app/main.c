/* edgemb firmware: bring the board up, prepare the model, serve the host. */
#include "app.h"
#include "platform.h"

int main(void) {
  em_platform_init();
  em_app_init(); /* initialises the runner */
  em_app_run();  /* never returns */
  return 0;
}
