package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** The library forced onto its scalar implementation. */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g", "-Dvecnorm.forceScalar=true"})
public class Scalar extends BatchNormBenchmark {
  @Override
  protected Ops createOps() {
    return new LibraryOps();
  }
}
