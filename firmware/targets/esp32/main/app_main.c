/* ESP-IDF entry point of the edgemb firmware: the portable application
 * (app/app.h) in a FreeRTOS task of its own.
 *
 * The serial driver is installed here, from app_main on CPU0, so its interrupt
 * runs on CPU0; the application runs on the last core (CPU1 on the dual-core
 * ESP32 and ESP32-S3), where nothing else competes with an inference.
 *
 * Watchdog. An INVOKE takes up to seconds (TFLite Micro without ESP-NN on an
 * ESP32: about 4 s for person detection) and a BENCH runs N of them back to
 * back, without yielding: the edgemb task only blocks while it waits for the
 * host. During that time the idle task of its core cannot run. So the task
 * watchdog does not watch that core's idle task (sdkconfig.defaults.<chip>),
 * and the edgemb task does not subscribe to the watchdog either: no timeout
 * fits an inference whose length depends on the model and on N. Feeding the
 * watchdog from inside an inference would mean a hook in every runtime; and
 * running the task at idle priority so that the idle task gets time slices
 * does not work, because ESP-IDF's idle hook then waits for the next interrupt
 * (WAITI) each time it runs, halving the speed and adding jitter to every
 * measurement. The other core's idle task (dual-core chips) stays watched, and
 * the interrupt watchdog is untouched. */
#include <stdlib.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"
#include "soc/soc_caps.h"

#include "app.h"
#include "platform.h"

#ifndef CONFIG_EDGEMB_TASK_STACK_BYTES
#define CONFIG_EDGEMB_TASK_STACK_BYTES 16384
#endif
#ifndef CONFIG_EDGEMB_TASK_PRIORITY
#define CONFIG_EDGEMB_TASK_PRIORITY 5
#endif

#if defined(CONFIG_FREERTOS_UNICORE) || SOC_CPU_CORES_NUM < 2
#define EM_APP_CORE 0
#else
#define EM_APP_CORE 1
#endif

static void edgemb_task(void *arg) {
  (void)arg;
  em_app_init(); /* the runner: TFLite Micro allocates its arena here */
  em_app_run();  /* serves the host; never returns */
  vTaskDelete(NULL);
}

void app_main(void); /* called by ESP-IDF once the system is up */

void app_main(void) {
  em_platform_init();
  /* ESP-IDF counts task stacks in bytes. */
  if (xTaskCreatePinnedToCore(edgemb_task, "edgemb", CONFIG_EDGEMB_TASK_STACK_BYTES, NULL,
                              CONFIG_EDGEMB_TASK_PRIORITY, NULL, EM_APP_CORE) != pdPASS) {
    abort(); /* no memory for the task: nothing can run; the chip restarts */
  }
}
