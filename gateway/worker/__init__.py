"""The worker: joins outcomes to exposures, keeps sufficient statistics, evaluates and decides."""
