//! CSV import (todo)
