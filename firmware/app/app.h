/* The application: serves the protocol (protocol.h) over the board's serial
 * port (platform.h), running the model through the runner (runner.h).
 *
 * All memory is static. Buffers are sized by compile-time maxima; a model that
 * does not fit is reported in INFO (status) instead of overrunning anything. */
#ifndef EDGEMB_APP_H
#define EDGEMB_APP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest model input and output the application can hold. `edgemb build`
 * passes the model's own sizes; the defaults fit a 96x96x3 int8 classifier. */
#ifndef EM_APP_MAX_INPUT_BYTES
#define EM_APP_MAX_INPUT_BYTES (96u * 96u * 3u)
#endif
#ifndef EM_APP_MAX_OUTPUT_BYTES
#define EM_APP_MAX_OUTPUT_BYTES 1024u
#endif
/* Most operators whose per-operator ticks are kept; a runner with more is
 * timed as a whole only. */
#ifndef EM_APP_MAX_OPS
#define EM_APP_MAX_OPS 256u
#endif
/* Bytes asked of em_serial_read at a time. */
#ifndef EM_APP_READ_CHUNK
#define EM_APP_READ_CHUNK 256u
#endif

/* Bytes of an outgoing frame gathered before em_serial_write: a reply leaves in
 * one write (one system call on the host, one wake-up of the reader) instead of
 * one per COBS block. Longer frames go out in pieces of this size. */
#ifndef EM_APP_TX_CHUNK
#define EM_APP_TX_CHUNK 256u
#endif

/* Initialises the runner and checks that the model fits the buffers. */
void em_app_init(void);

/* Forgets the session: loaded input, last result, last request. The runner
 * stays initialised. */
void em_app_reset(void);

/* Feeds bytes received from the host; replies go out through em_serial_write.
 * Any byte sequence is accepted. */
void em_app_feed(const uint8_t *data, size_t len);

/* Reads the serial port and feeds the application, forever. */
void em_app_run(void);

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_APP_H */
