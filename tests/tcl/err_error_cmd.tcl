error "something broke"
