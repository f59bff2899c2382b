"""Planning without torch: the static scan behind the registries (scan, astcache), the registries
(registry), which package files a job runs (sources) and the config-keyed folder names (keys). The
Snakefile uses all of it while it parses, so nothing here imports torch or a registry entry."""
