// SignetCrypto
