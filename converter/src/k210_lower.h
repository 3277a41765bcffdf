// Forwarding header: the lowered program moved to lower/lowered.h.
#pragma once

#include "lower/lowered.h"
