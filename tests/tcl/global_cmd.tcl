set counter 0
proc bump {} { global counter; incr counter }
bump; bump
puts $counter
proc mk {} { global made; set made yes }
mk
puts $made
proc ex {} { global nothere; info exists nothere }
puts [ex]
set arr(1) one
proc readarr {} { global arr; set arr(1) }
puts [readarr]
proc nsglobal {} { set ::viacolons 7 }
nsglobal
puts $viacolons
puts [global a b c]
