package bufpool

// ClassOf is classOf, for the tests.
var ClassOf = classOf
