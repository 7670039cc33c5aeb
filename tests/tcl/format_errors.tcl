foreach s {
    {format} {format %d} {format %d abc} {format %d 3.5} {format %q 1} {format %s%s a}
    {format %f abc} {format %x 3.0} {format "%2\$s %s" a b} {format "%3\$s" a b} {format %5}
    {format %e NaN}
} {
    catch $s m
    puts $m
}
