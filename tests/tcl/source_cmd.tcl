# source reads a file and evaluates it (a missing file is an error naming it).
puts [catch {source /nonexistent/dir/lib.tcl} m]
puts $m
puts [catch {source} m]
puts $m
source /nonexistent/other.tcl
