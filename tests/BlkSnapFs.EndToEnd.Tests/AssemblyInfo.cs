// Test classes may run side by side (each has its own daemon, socket, mount point and loop
// devices); two at a time fits this 2-core machine without starving the FUSE daemons.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerClass, MaxParallelThreads = 2)]
