package dev.vecnorm.bench;

/** One way of doing the benchmarked operations: the library, a naive textbook version, or a bandwidth probe. */
interface Ops {
  Object statistics(Workload w);

  Object trainingForward(Workload w);

  Object inferenceForward(Workload w);

  Object backward(Workload w);

  Object movingUpdate(Workload w);

  default Object trainingStep(Workload w) {
    trainingForward(w);
    return backward(w);
  }
}
