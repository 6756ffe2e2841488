package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** Textbook Java: the baseline a user would write. */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class Naive extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new NaiveOps();
  }
}
