puts stderr "to stderr"
puts stdout "to stdout"
