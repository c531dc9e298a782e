/* tinyml firmware: the console the harness lines go out on, and how a run ends.
 *
 * One implementation per console kind of the board file (semihosting, or a
 * UART driver of the board's family under firmware_templates/boards/); all
 * are blocking and polled, so they also work inside the HardFault handler.
 */
#ifndef TINYML_CONSOLE_H
#define TINYML_CONSOLE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void tinyml_console_init(void);
/* Sends len bytes; returns when they have been handed to the device. */
void tinyml_console_write(const char *data, uint32_t len);
/* Waits until everything written has left (UART shift register empty). */
void tinyml_console_flush(void);

/* Ends the run: semihosting SYS_EXIT on emulators (QEMU exits with status 0
 * for status 0, 1 otherwise), a low-power idle loop on real boards. */
void tinyml_exit(int status) __attribute__((noreturn));

/* Line-buffered printing on top of tinyml_console_write (no printf: small,
 * and no hidden allocation). Lines are flushed at '\n'. */
void tinyml_print(const char *text);
void tinyml_print_u32(uint32_t value);
void tinyml_print_u64(uint64_t value);
void tinyml_print_hex32(uint32_t value);
void tinyml_print_hex_bytes(const int8_t *data, uint32_t len);
void tinyml_print_flush(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_CONSOLE_H */
