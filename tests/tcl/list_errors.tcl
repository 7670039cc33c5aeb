foreach s {
    {llength "\{a"} {llength {"a}} {llength {{a}b}} {llength {"a"b}}
    {llength {{a}bcdefghijklmnopqrstuvwxyz0123456789 x}} {lindex {a b c} x} {lrange {a b c} 0 x}
    {lindex} {llength} {llength {a b} c} {lrange {a b}} {split} {join} {lappend}
    {set x "\{"; lappend x c}
} {
    catch $s m
    puts $m
}
