puts a
return -code error "custom failure"
