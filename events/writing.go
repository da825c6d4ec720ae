//go:build !paygate_noevents

package events

// Writing reports whether Append writes events: always, in every build
// that is shipped. Only a binary built with the tag paygate_noevents, a
// measuring device of scripts/events-cost.sh, writes none (see
// writing_off.go).
const Writing = true
