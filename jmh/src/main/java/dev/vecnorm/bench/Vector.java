package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** The library with the Vector API kernels. */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class Vector extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new LibraryOps();
  }
}
