// SignetPolicy
