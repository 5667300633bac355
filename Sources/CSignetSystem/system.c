#include "CSignetSystem.h"
