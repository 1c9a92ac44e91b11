/* The bottom of the test plugins' dependency tree: libdep_deep.so, needed by libdep_middle.so. */
int dep_deep(void) { return 40; }
