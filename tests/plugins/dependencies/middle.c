/* libdep_middle.so: needs libdep_deep.so (no RUNPATH), needed by libplugin_uses_deps.so. */
int dep_deep(void);
int dep_middle(void) { return dep_deep() + 2; }
