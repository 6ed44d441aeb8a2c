// Tests mount real file systems and measure timing; running them one at a time keeps the 2-core machine honest.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
