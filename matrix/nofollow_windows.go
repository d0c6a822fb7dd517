package matrix

// oNoFollow: Windows has no O_NOFOLLOW; --forks is refused there.
const oNoFollow = 0
