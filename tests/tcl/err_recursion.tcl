proc forever {n} { forever [incr n] }
forever 0
