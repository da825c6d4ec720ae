//go:build paygate_noevents

package events

// Writing is false in a binary built with the tag paygate_noevents: Append
// writes nothing, and the emitters skip reading back the resource their
// event would describe. Such a binary breaks the events' promise (no change
// without its event) and is never shipped: it is the "without events" half
// of scripts/events-cost.sh, which measures what writing events costs the
// writers by comparing it with the same commit built without the tag.
const Writing = false
