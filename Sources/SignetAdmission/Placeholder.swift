// SignetAdmission
