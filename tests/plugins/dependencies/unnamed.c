/* libdep_unnamed.so: a dependency built without a SONAME, which the loader can only match by
 * its file name. */
int dep_unnamed(void) { return 7; }
