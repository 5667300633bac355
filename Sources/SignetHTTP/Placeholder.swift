// SignetHTTP
