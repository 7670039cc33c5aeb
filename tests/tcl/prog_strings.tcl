proc reverse_words {s} {
    set out {}
    foreach w [split $s] { set out [linsert $out 0 $w] }
    return [join $out " "]
}
puts [reverse_words "the quick brown fox"]
proc count_chars {s} {
    foreach c [split $s ""] { incr n($c) }
    set r {}
    foreach k [lsort [array names n]] { lappend r $k $n($k) }
    return $r
}
puts [count_chars hello]
puts [string map {" " ""} [format "%5s|%-5s" a b]]
set csv "name,age\nann,31\nbob,27"
foreach line [split $csv \n] {
    lassign [split $line ,] name age
    puts [format "%-5s %3s" $name $age]
}
