// SignetCLI
