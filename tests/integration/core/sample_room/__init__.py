"""A room that exists only for the tests of `omnihub.bootstrap`: the smallest thing that plugs into the house."""
