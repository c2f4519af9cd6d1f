/** The HTTP edge: the route table built while routes register (see request-gates.ts). */
import { Module } from '@nestjs/common';
import { RouteTable } from './request-gates.js';

@Module({ providers: [{ provide: RouteTable, useValue: new RouteTable() }], exports: [RouteTable] })
export class HttpModule {}
