/** In-flight requests and the drain at shutdown (TrafficService and its request gate). */
import { Module } from '@nestjs/common';
import { TrafficService } from './traffic.service.js';

@Module({ providers: [TrafficService], exports: [TrafficService] })
export class LifecycleModule {}
