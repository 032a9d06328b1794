#include "trace/trace-hw_remote_dm.h"
