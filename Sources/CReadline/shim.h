#ifndef SALIENCY_CREADLINE_SHIM_H
#define SALIENCY_CREADLINE_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <readline/readline.h>
#include <readline/history.h>
// Swift 6 rejects reading C globals: accessors for the ones the REPL touches.
static inline int sal_history_length(void) { return history_length; }
static inline void sal_set_completion_append_character(int c) { rl_completion_append_character = c; }
static inline void sal_set_attempted_completion_function(rl_completion_func_t *f) { rl_attempted_completion_function = f; }
// readline keeps this pointer for the life of the process, but Swift passes a temporary C
// copy of its string (freed when the call returns; AddressSanitizer caught readline reading it
// on the first Tab): keep a copy of our own, freeing the one set before.
static inline void sal_set_completer_word_break_characters(const char *s) {
    static char *owned = NULL;
    char *copy = strdup(s);
    if (copy == NULL) return;
    free(owned);
    owned = copy;
    rl_completer_word_break_characters = copy;
}
static inline void sal_set_attempted_completion_over(int v) { rl_attempted_completion_over = v; }
static inline const char *sal_line_buffer(void) { return rl_line_buffer; }
static inline int sal_point(void) { return rl_point; }
static inline FILE *sal_stdout(void) { return stdout; }
static inline FILE *sal_stderr(void) { return stderr; }
// Ctrl-C at the prompt: readline calls the signal event hook when a read is interrupted;
// the REPL clears the line and finishes the read from there.
static inline void sal_set_signal_event_hook(rl_hook_func_t *f) { rl_signal_event_hook = f; }
static inline void sal_set_done(int v) { rl_done = v; }
static inline void sal_set_catch_sigwinch(int v) { rl_catch_sigwinch = v; }
static inline void sal_set_catch_signals(int v) { rl_catch_signals = v; }
static inline void sal_set_getc_function(rl_getc_func_t *f) { rl_getc_function = f; }
#endif
