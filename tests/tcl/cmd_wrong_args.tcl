foreach s {
    {incr} {append} {while 1} {for a b c} {foreach x} {proc} {error} {catch} {eval} {uplevel}
    {upvar} {upvar a} {expr} {lappend} {after} {rename} {info} {break 1} {continue 1} {lreverse} {lsort}
    {subst} {llength} {list} {concat}
} {
    set code [catch $s m]
    puts "$code $m"
}
