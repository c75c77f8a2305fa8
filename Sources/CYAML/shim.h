// libyaml 0.2.5 from Debian's libyaml-dev: the event parser the configuration
// reader walks (Sources/TracegateCore/Config/YAMLDocument.swift). Its API is
// plain functions and structs, so no wrappers are needed.
#include <yaml.h>
