package chain

// ReadRows reads the rows that claim chain positions first to last, as a
// block sealed before cursors (a legacy block) has them, for the tests
// that make such a block.
var ReadRows = readRows
