// torch.optim.lr_scheduler.StepLR: lr = base · gamma^floor(epoch / stepSize).

export class StepLR {
  readonly baseLr: number;
  constructor(readonly optimizer: { lr: number }, readonly stepSize: number, readonly gamma = 0.1) {
    if (!(stepSize >= 1)) throw new Error(`StepLR: step size ${stepSize} must be ≥ 1`);
    this.baseLr = optimizer.lr;
  }

  /** Learning rate for `epoch` (0-based). */
  lrAt(epoch: number): number {
    return this.baseLr * Math.pow(this.gamma, Math.floor(epoch / this.stepSize));
  }

  /** Sets the optimiser's lr for `epoch` and returns it. */
  setEpoch(epoch: number): number {
    this.optimizer.lr = this.lrAt(epoch);
    return this.optimizer.lr;
  }
}
