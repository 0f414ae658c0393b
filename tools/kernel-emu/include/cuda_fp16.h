// Emulator stand-in for CUDA's cuda_fp16.h: __half and its conversions live in hp_emu.h.
#pragma once
#include "hp_emu.h"
