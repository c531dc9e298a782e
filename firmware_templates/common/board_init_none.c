/* tinyml firmware: no clock init: the core runs at its reset clock. */
#include "tinyml_board.h"

void tinyml_board_init(void) {}
