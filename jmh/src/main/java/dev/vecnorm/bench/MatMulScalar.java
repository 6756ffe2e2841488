package dev.vecnorm.bench;

import org.openjdk.jmh.annotations.Fork;

/** Matrix multiply, scalar kernel (forced). */
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch", "-Dvecnorm.forceScalar=true"})
public class MatMulScalar extends MatMulBenchmark {}
