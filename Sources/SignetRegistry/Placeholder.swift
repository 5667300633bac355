// SignetRegistry
