import SignetCLI
