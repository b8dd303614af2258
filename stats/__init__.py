"""Pure statistics: sufficient statistics, always-valid tests, SRM, decisions. numpy/scipy only."""
