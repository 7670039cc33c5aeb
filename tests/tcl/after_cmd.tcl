puts [after 1]
puts [after 0]
puts [after -1]
puts [catch {after} m]
puts $m
puts [catch {after abc} m]
puts $m
puts done
