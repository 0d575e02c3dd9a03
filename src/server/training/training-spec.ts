import path from 'node:path';

/** What a lora_train job trains; its dataset is prepared at submission in `trainingFolder(...)/dataset`. */
export interface TrainingSpec {
  /** The training's public id: the LoRA's name in the LoRA folder once done (`lora_model`, `<lora:id:w>`). */
  trainingId: string;
  steps: number;
  rank: number;
  learningRate: number;
  resolution: number;
  /** The v3 lora_type: 'lora' (kohya LoRA) or 'lycoris' (trained as a LyCORIS LoHa). */
  loraType: 'lora' | 'lycoris';
}

/** Each training's folder: its prepared dataset, and its checkpoints while it runs. */
export const trainingFolder = (trainingDir: string, trainingId: string): string => path.join(trainingDir, trainingId);
